// Type of the text import in src/image/assets.ts (Bun `with { type: "text" }`).
declare const text: string;
export default text;

/** sha256 helpers: cache keys and manifest hashes. */

export function sha256Text(...parts: string[]): string {
  const h = new Bun.CryptoHasher("sha256");
  // A separator no part contains keeps ("ab","c") and ("a","bc") apart.
  for (const p of parts) h.update(`${p.length}:${p}\n`);
  return h.digest("hex");
}

export async function sha256File(path: string): Promise<string> {
  const h = new Bun.CryptoHasher("sha256");
  const stream = Bun.file(path).stream();
  for await (const chunk of stream) h.update(chunk);
  return h.digest("hex");
}

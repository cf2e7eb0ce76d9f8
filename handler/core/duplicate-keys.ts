/**
 * `JSON.parse` silently keeps the last of two equal keys. In healthcare data a record that says two
 * things about one field is ambiguous, so such records are rejected, naming the field.
 *
 * Detection is cheap and happens elsewhere: every `:` outside a string separates a key from its value,
 * so the splitter counts them and the validator compares that count with the keys of the parsed value.
 * Only for a record that fails that comparison does this slower walk find the field's name.
 */
export function findDuplicateKey(text: string): string | undefined {
  const frames: Array<{ keys: Set<string>; path: string; isObject: boolean; index: number }> = [];
  let pendingKey: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      const str = JSON.parse(text.slice(i, j + 1)) as string;
      const frame = frames[frames.length - 1];
      let k = j + 1;
      while (/\s/.test(text[k] ?? "")) k++;
      if (frame?.isObject && text[k] === ":") {
        const path = frame.path ? `${frame.path}.${str}` : str;
        if (frame.keys.has(str)) return path;
        frame.keys.add(str);
        pendingKey = path;
      }
      i = j;
    } else if (c === "{" || c === "[") {
      const parent = frames[frames.length - 1];
      const path = parent && !parent.isObject ? `${parent.path}[${parent.index}]` : (pendingKey ?? "");
      frames.push({ keys: new Set(), path, isObject: c === "{", index: 0 });
      pendingKey = undefined;
    } else if (c === "}" || c === "]") {
      frames.pop();
    } else if (c === ",") {
      const frame = frames[frames.length - 1];
      if (frame && !frame.isObject) frame.index++;
    }
  }
  return undefined;
}

/**
 * `JSON.parse` silently keeps the last of two equal keys. In healthcare data a record that says two
 * things about one field is ambiguous, so such records are rejected, naming the field.
 *
 * Fast check: every `:` outside a string separates a key from its value, so a record has duplicate
 * keys exactly when it has more such colons than its parsed value has keys. Only then is the slower
 * walk that names the field run.
 */
export function duplicateKey(text: string, parsed: unknown): string | undefined {
  if (colonsOutsideStrings(text) === keysIn(parsed)) return undefined;
  return findDuplicate(text) ?? "(unknown field)";
}

function colonsOutsideStrings(text: string): number {
  let n = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++;
      else if (c === 34) inString = false;
    } else if (c === 34) {
      inString = true;
    } else if (c === 58) {
      n++;
    }
  }
  return n;
}

function keysIn(value: unknown): number {
  if (Array.isArray(value)) return value.reduce((sum: number, v) => sum + keysIn(v), 0);
  if (typeof value !== "object" || value === null) return 0;
  let n = 0;
  for (const v of Object.values(value)) n += 1 + keysIn(v);
  return n;
}

/** Walks valid JSON text, returning the dotted path of the first repeated key. */
function findDuplicate(text: string): string | undefined {
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

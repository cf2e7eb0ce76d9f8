import { curatedRowSchema } from "./facility";

/** The subset of JSON Schema the facility schema uses; enough to derive column types from it. */
export interface SchemaNode {
  readonly type: "object" | "array" | "string" | "integer";
  readonly format?: string;
  readonly properties?: Readonly<Record<string, SchemaNode>>;
  readonly items?: SchemaNode;
}

export interface Column {
  readonly name: string;
  readonly type: string;
}

/** Hive type names, as Glue stores them and Athena reads them through the Hive JSON SerDe. */
export function hiveType(node: SchemaNode): string {
  switch (node.type) {
    case "string":
      return node.format === "date" ? "date" : "string";
    case "integer":
      return "bigint";
    case "array":
      return `array<${hiveType(required(node.items, "items"))}>`;
    case "object":
      return `struct<${entries(node).map(([name, child]) => `${name}:${hiveType(child)}`).join(",")}>`;
  }
}

/** DuckDB type names, for `read_json(..., columns = {...})`. */
export function duckDbType(node: SchemaNode): string {
  switch (node.type) {
    case "string":
      return node.format === "date" ? "DATE" : "VARCHAR";
    case "integer":
      return "BIGINT";
    case "array":
      return `${duckDbType(required(node.items, "items"))}[]`;
    case "object":
      return `STRUCT(${entries(node).map(([name, child]) => `${name} ${duckDbType(child)}`).join(", ")})`;
  }
}

function entries(node: SchemaNode): [string, SchemaNode][] {
  return Object.entries(required(node.properties, "properties"));
}

function required<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`schema node is missing "${what}"`);
  return value;
}

const curated: SchemaNode = curatedRowSchema;

/** Curated table columns with Hive types, in schema order (the Glue table's column list). */
export const glueColumns: readonly Column[] = entries(curated).map(([name, node]) => ({ name, type: hiveType(node) }));

/** Curated table columns with DuckDB types, in schema order. */
export const duckDbColumns: readonly Column[] = entries(curated).map(([name, node]) => ({ name, type: duckDbType(node) }));

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

/** How one SQL dialect spells the schema's types. */
interface TypeDialect {
  string: string;
  date: string;
  integer: string;
  array(element: string): string;
  struct(fields: Array<[string, string]>): string;
}

/** Hive type names, as Glue stores them and Athena reads them through the Hive JSON SerDe. */
const HIVE: TypeDialect = {
  string: "string",
  date: "date",
  integer: "bigint",
  array: (e) => `array<${e}>`,
  struct: (fields) => `struct<${fields.map(([n, t]) => `${n}:${t}`).join(",")}>`,
};

/** DuckDB type names, for `read_json(..., columns = {...})`. */
const DUCKDB: TypeDialect = {
  string: "VARCHAR",
  date: "DATE",
  integer: "BIGINT",
  array: (e) => `${e}[]`,
  struct: (fields) => `STRUCT(${fields.map(([n, t]) => `${n} ${t}`).join(", ")})`,
};

function columnType(node: SchemaNode, d: TypeDialect): string {
  switch (node.type) {
    case "string":
      return node.format === "date" ? d.date : d.string;
    case "integer":
      return d.integer;
    case "array":
      return d.array(columnType(required(node.items, "items"), d));
    case "object":
      return d.struct(entries(node).map(([name, child]) => [name, columnType(child, d)]));
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
export const glueColumns: readonly Column[] = entries(curated).map(([name, node]) => ({ name, type: columnType(node, HIVE) }));

/** Curated table columns with DuckDB types, in schema order. */
export const duckDbColumns: readonly Column[] = entries(curated).map(([name, node]) => ({ name, type: columnType(node, DUCKDB) }));

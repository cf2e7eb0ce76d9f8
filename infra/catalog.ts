import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { glueColumns } from "../handler/schema/columns";
import { FACILITY_HISTORY_TABLE, FACILITY_TABLE } from "../handler/schema/facility";
import { OUTPUT_LAYOUT } from "../handler/core/layout";

export interface CatalogArgs {
  outputBucketName: pulumi.Input<string>;
  kmsKeyArn: pulumi.Input<string>;
  bytesScannedCutoffMb: number;
  forceDestroy: boolean;
}

/** The Glue database and facilities table over the curated prefix, and the Athena workgroup reports run in. */
export class Catalog extends pulumi.ComponentResource {
  readonly database: aws.glue.CatalogDatabase;
  readonly table: aws.glue.CatalogTable;
  readonly historyTable: aws.glue.CatalogTable;
  readonly workgroup: aws.athena.Workgroup;

  constructor(name: string, args: CatalogArgs, opts?: pulumi.ComponentResourceOptions) {
    super("facility:catalog:Catalog", name, {}, opts);

    // Glue and Athena identifiers: lowercase with underscores, so SQL never needs quoting.
    this.database = new aws.glue.CatalogDatabase(
      `${name}-db`,
      {
        name: name.toLowerCase().replace(/[^a-z0-9]+/g, "_"),
        description: "Curated healthcare facility records",
      },
      { parent: this },
    );

    // Hive JSON SerDe over gzip NDJSON, columns projected from the schema: the same row format for the
    // current state (what reports read) and the history it is derived from.
    const jsonTable = (id: string, tableName: string, prefix: string, description: string) =>
      new aws.glue.CatalogTable(
        `${name}-${id}`,
        {
          databaseName: this.database.name,
          name: tableName,
          description,
          tableType: "EXTERNAL_TABLE",
          parameters: { EXTERNAL: "TRUE", classification: "json", compressionType: "gzip" },
          storageDescriptor: {
            location: pulumi.interpolate`s3://${args.outputBucketName}/${prefix}`,
            inputFormat: "org.apache.hadoop.mapred.TextInputFormat",
            outputFormat: "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            compressed: true,
            // The Hive JSON SerDe is deterministic for data we write ourselves (one record per line),
            // unlike the OpenX SerDe, whose results AWS warns can vary.
            serDeInfo: { serializationLibrary: "org.apache.hive.hcatalog.data.JsonSerDe" },
            columns: glueColumns.map((c) => ({ name: c.name, type: c.type })),
          },
        },
        { parent: this },
      );

    // Reports read the current state: one row per facility, so a query scans about one snapshot
    // however many uploads came before (README, "Current state").
    this.table = jsonTable(
      "facilities",
      FACILITY_TABLE,
      OUTPUT_LAYOUT.current,
      "The latest record of each facility_id (maintained by the processor): what reports count",
    );
    this.historyTable = jsonTable(
      "facilities-history",
      FACILITY_HISTORY_TABLE,
      OUTPUT_LAYOUT.curated,
      "Every validated record of every upload version still present: the history the current state derives from",
    );

    this.workgroup = new aws.athena.Workgroup(
      `${name}-reports`,
      {
        description: "Facility pipeline reports",
        state: "ENABLED",
        forceDestroy: args.forceDestroy,
        configuration: {
          enforceWorkgroupConfiguration: true,
          publishCloudwatchMetricsEnabled: true,
          bytesScannedCutoffPerQuery: args.bytesScannedCutoffMb * 1024 * 1024,
          engineVersion: { selectedEngineVersion: "Athena engine version 3" },
          resultConfiguration: {
            outputLocation: pulumi.interpolate`s3://${args.outputBucketName}/${OUTPUT_LAYOUT.athenaScratch}`,
            encryptionConfiguration: { encryptionOption: "SSE_KMS", kmsKeyArn: args.kmsKeyArn },
          },
        },
      },
      { parent: this },
    );

    this.registerOutputs({
      database: this.database.name,
      table: this.table.name,
      historyTable: this.historyTable.name,
      workgroup: this.workgroup.name,
    });
  }
}

/**
 * moto_server with IAM enforcement, for the integration tier.
 *
 * How moto enforces IAM (moto 5.x, docs/docs/iam.rst and moto/core/authorization.py): with
 * `INITIAL_NO_AUTH_ACTION_COUNT=N` the first N requests that reach an action are neither authenticated
 * nor authorized; every later one must be SigV4-signed with an access key of an IAM user moto knows
 * (else `InvalidAccessKeyId` / `InvalidClientTokenId`), and the user's identity policies must allow the
 * action on the resource (else `AccessDenied`). Unset, the count is infinite: nothing is checked.
 *
 * The N free requests here create one administrator (user, inline `*` policy, access key); everything
 * else, including creating the processor's user, is done by that administrator under enforcement, so
 * the count never depends on how many buckets or queues a test makes.
 *
 * What moto's evaluation does not model (moto/iam/access_control.py, policy_conditions.py): only
 * `StringEquals` conditions are evaluated, others (the processor's `StringLike` on `s3:prefix`) are
 * ignored, i.e. treated as met; resource policies, KMS key policies and SCPs are not consulted; and S3
 * answers a missing key with 404 whatever the caller's s3:ListBucket grant (real S3 answers 403
 * without it). Those are the in-process AWS twin's job.
 */
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from "@aws-sdk/client-iam";
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as net from "net";
import * as path from "path";
import { IdentityPolicy, ProcessorScope } from "../../infra/processor-policy";

/** The account moto serves when a request names none (moto/core/models.py DEFAULT_ACCOUNT_ID). */
export const MOTO_ACCOUNT = "123456789012";
export const MOTO_REGION = "us-east-1";

/** CreateUser, PutUserPolicy, CreateAccessKey for the administrator: the only unchecked requests. */
const BOOTSTRAP_REQUESTS = 3;

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface Moto {
  endpoint: string;
  /** Credentials of an IAM user allowed everything: the test's own requests. */
  admin: Credentials;
  /** Creates an IAM user holding exactly `policy` (inline) and returns its access key. */
  userWithPolicy(name: string, policy: IdentityPolicy): Promise<Credentials>;
  stop(): void;
}

export function motoInstalled(): boolean {
  try {
    execFileSync("moto_server", ["-h"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Waits for the port to accept connections. A TCP probe, not an AWS request: it costs no free request. */
async function listening(port: number, server: ChildProcess): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (server.exitCode !== null) throw new Error(`moto_server exited with code ${server.exitCode}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => socket.end(() => resolve(true)));
      socket.on("error", () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`moto_server did not listen on 127.0.0.1:${port} within 20 s`);
}

async function createUser(iam: IAMClient, name: string, policy: IdentityPolicy): Promise<Credentials> {
  await iam.send(new CreateUserCommand({ UserName: name }));
  await iam.send(new PutUserPolicyCommand({ UserName: name, PolicyName: `${name}-policy`, PolicyDocument: JSON.stringify(policy) }));
  const key = (await iam.send(new CreateAccessKeyCommand({ UserName: name }))).AccessKey;
  if (!key?.AccessKeyId || !key.SecretAccessKey) throw new Error(`moto returned no access key for ${name}`);
  return { accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey };
}

/** Starts moto_server on a free loopback port with IAM enforced after the administrator exists. */
export async function startMoto(): Promise<Moto> {
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const server = spawn("moto_server", ["-H", "127.0.0.1", "-p", String(port)], {
    stdio: "ignore",
    env: {
      ...process.env,
      INITIAL_NO_AUTH_ACTION_COUNT: String(BOOTSTRAP_REQUESTS),
      MOTO_ACCOUNT_ID: MOTO_ACCOUNT,
      // sitecustomize.py there: the signature check sees the query string as sent (getmoto/moto#5948).
      PYTHONPATH: [path.join(__dirname, "moto-server"), process.env.PYTHONPATH].filter(Boolean).join(path.delimiter),
    },
  });
  try {
    await listening(port, server);
    const iamAs = (credentials: Credentials) => new IAMClient({ region: MOTO_REGION, endpoint, credentials, maxAttempts: 1 });
    // Unchecked while the free requests last: any key will do.
    const admin = await createUser(iamAs({ accessKeyId: "bootstrap", secretAccessKey: "bootstrap" }), "it-admin", {
      Version: "2012-10-17",
      Statement: [{ Sid: "TestDriver", Effect: "Allow", Action: "*", Resource: "*" }],
    });
    const iam = iamAs(admin);
    return { endpoint, admin, userWithPolicy: (name, policy) => createUser(iam, name, policy), stop: () => server.kill() };
  } catch (e) {
    server.kill();
    throw e;
  }
}

/**
 * The processor's scope on moto: real bucket and queue ARNs of the moto side. The workgroup, Glue
 * table, key and log group are named for completeness but never exercised through moto: Athena is
 * faked inside the child process (moto cannot run queries), the moto buckets are not KMS-encrypted, and
 * the function writes logs to stdout.
 */
export function motoProcessorScope(names: {
  rawBucket: string;
  outputBucket: string;
  queue: string;
  deadLetterQueue: string;
  workgroup: string;
  database: string;
  table: string;
}): ProcessorScope {
  const arn = (service: string, resource: string) => `arn:aws:${service}:${MOTO_REGION}:${MOTO_ACCOUNT}:${resource}`;
  return {
    rawBucketArn: `arn:aws:s3:::${names.rawBucket}`,
    outputBucketArn: `arn:aws:s3:::${names.outputBucket}`,
    workgroupArn: arn("athena", `workgroup/${names.workgroup}`),
    kmsKeyArn: arn("kms", "key/00000000-0000-0000-0000-000000000000"),
    queueArn: arn("sqs", names.queue),
    deadLetterQueueArn: arn("sqs", names.deadLetterQueue),
    logGroupArn: arn("logs", "log-group:/facility/processor"),
    region: MOTO_REGION,
    accountId: MOTO_ACCOUNT,
    partition: "aws",
    database: names.database,
    table: names.table,
    inVpc: false,
  };
}

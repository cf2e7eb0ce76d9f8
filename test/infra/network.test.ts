import { expect } from "chai";
import { subnetsOffering } from "../../infra/network";
import { CallMock, endpointServiceIn, ProgramRun, REGION, runProgram } from "./harness";

const LOOKUP = "aws:ec2/getVpcEndpointService:getVpcEndpointService";
const zone = (suffix: string) => `${REGION}${suffix}`;

/** Answers the endpoint-service lookup per service: zones offered, by service name. */
function servicesIn(zonesOf: Record<string, string[]>, asked: Array<Record<string, unknown>> = []): Record<string, CallMock> {
  return {
    [LOOKUP]: (args) => {
      asked.push(args);
      return endpointServiceIn(zonesOf[String(args.service)] ?? [])(args);
    },
  };
}

const endpoint = (run: ProgramRun, service: string) => run.one("aws:ec2/vpcEndpoint:VpcEndpoint", `-${service}`).inputs;

describe("network: interface endpoints only where the service exists", () => {
  it("puts each interface endpoint only into the subnets whose zone offers its service", async () => {
    // The mocked awsx Vpc has subnet-a in zone a and subnet-b in zone b (harness SUBNET_ZONES).
    const asked: Array<Record<string, unknown>> = [];
    const run = await runProgram("prod", {}, servicesIn({ athena: [zone("a"), zone("c")], sqs: [zone("a"), zone("b")] }, asked));
    expect(endpoint(run, "athena")).to.deep.include({ serviceName: `com.amazonaws.${REGION}.athena`, vpcEndpointType: "Interface", subnetIds: ["subnet-a"] });
    expect(endpoint(run, "sqs")).to.deep.include({ serviceName: `com.amazonaws.${REGION}.sqs`, subnetIds: ["subnet-a", "subnet-b"] });
    expect(asked.map((a) => [a.service, a.serviceType]).sort()).to.deep.equal([
      ["athena", "Interface"],
      ["sqs", "Interface"],
    ]);
    // The function itself stays in both subnets: only the endpoints are placed by service.
    expect((run.one("aws:lambda/function:Function").inputs.vpcConfig as { subnetIds: string[] }).subnetIds).to.deep.equal(["subnet-a", "subnet-b"]);
  });

  it("stops the preview, naming the service and the zones, when no subnet's zone offers it", async () => {
    const failures: unknown[] = [];
    const capture = (e: unknown) => failures.push(e);
    process.on("unhandledRejection", capture);
    try {
      const run = await runProgram("prod", {}, servicesIn({ athena: [zone("c"), zone("d")], sqs: [zone("a"), zone("b")] })).catch((e: unknown) => {
        failures.push(e);
        return undefined;
      });
      expect(run?.ofType("aws:ec2/vpcEndpoint:VpcEndpoint").some((e) => e.name.endsWith("-athena")) ?? false, "no athena endpoint registered").to.equal(false);
    } finally {
      process.off("unhandledRejection", capture);
    }
    const messages = failures.map((e) => (e instanceof Error ? e.message : String(e)));
    expect(messages.join("\n")).to.include(
      `VPC endpoint service com.amazonaws.${REGION}.athena is offered in ${zone("c")}, ${zone("d")}, but the processor's subnets are in ${zone("a")}, ${zone("b")}`,
    );
  });

  it("lists every usable subnet, and says what to do when there is none", () => {
    const subnets = [
      { id: "s-1", availabilityZone: "az-1" },
      { id: "s-2", availabilityZone: "az-2" },
      { id: "s-3", availabilityZone: "az-1" },
    ];
    expect(subnetsOffering("svc", ["az-1"], subnets)).to.deep.equal(["s-1", "s-3"]);
    expect(subnetsOffering("svc", ["az-2", "az-1"], subnets)).to.deep.equal(["s-1", "s-2", "s-3"]);
    expect(() => subnetsOffering("svc", [], subnets)).to.throw("svc is offered in no availability zone, but the processor's subnets are in az-1, az-2");
    expect(() => subnetsOffering("svc", ["az-9"], subnets)).to.throw(/turn off enableVpc/);
  });
});

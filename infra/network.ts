import * as aws from "@pulumi/aws";
import * as awsx from "@pulumi/awsx";
import * as pulumi from "@pulumi/pulumi";

const VPC_CIDR = "10.42.0.0/16";

/** Services the processor reaches through interface endpoints (S3 goes through the gateway endpoint). */
export const INTERFACE_SERVICES = ["athena", "sqs"] as const;

export interface PlacedSubnet {
  id: string;
  availabilityZone: string;
}

/**
 * The subnets an interface endpoint of a service can go into: those in a zone the service is offered
 * in. None is an error: the processor could not reach the service, so the preview stops here instead
 * of AWS rejecting the endpoint (or the function timing out) after deploy.
 */
export function subnetsOffering(service: string, offeredZones: string[], subnets: PlacedSubnet[]): string[] {
  const offered = new Set(offeredZones);
  const usable = subnets.filter((s) => offered.has(s.availabilityZone)).map((s) => s.id);
  if (usable.length === 0) {
    const zonesOf = [...new Set(subnets.map((s) => s.availabilityZone))].sort();
    throw new Error(
      `VPC endpoint service ${service} is offered in ${[...offeredZones].sort().join(", ") || "no availability zone"}, ` +
        `but the processor's subnets are in ${zonesOf.join(", ") || "no availability zone"}: no subnet can hold its interface endpoint. ` +
        `Place the network in zones the service offers (aws ec2 describe-vpc-endpoint-services --service-names ${service}), or turn off enableVpc.`,
    );
  }
  return usable;
}

/**
 * Optional private network for the processor: isolated subnets in two availability zones, no NAT and
 * no internet route. The processor reaches S3 through a gateway endpoint and Athena and SQS (its
 * dead-letter sends) through interface endpoints.
 */
export class Network extends pulumi.ComponentResource {
  readonly vpc: awsx.ec2.Vpc;
  readonly subnetIds: pulumi.Output<string[]>;
  readonly functionSecurityGroup: aws.ec2.SecurityGroup;

  constructor(name: string, opts?: pulumi.ComponentResourceOptions) {
    super("facility:network:Network", name, {}, opts);
    const child = { parent: this };
    const region = aws.getRegionOutput({}, child).region;

    this.vpc = new awsx.ec2.Vpc(
      `${name}-vpc`,
      {
        cidrBlock: VPC_CIDR,
        numberOfAvailabilityZones: 2,
        natGateways: { strategy: "None" },
        subnetStrategy: "Auto",
        subnetSpecs: [{ type: "Isolated", cidrMask: 24 }],
        enableDnsHostnames: true,
        enableDnsSupport: true,
      },
      child,
    );
    this.subnetIds = this.vpc.isolatedSubnetIds;
    const vpcId = this.vpc.vpcId;

    const s3 = new aws.ec2.VpcEndpoint(
      `${name}-s3`,
      {
        vpcId,
        serviceName: pulumi.interpolate`com.amazonaws.${region}.s3`,
        vpcEndpointType: "Gateway",
        routeTableIds: aws.ec2.getRouteTablesOutput({ vpcId }, child).ids,
      },
      child,
    );

    this.functionSecurityGroup = new aws.ec2.SecurityGroup(
      `${name}-fn`,
      {
        vpcId,
        description: "Processor: HTTPS to the VPC endpoints only",
        egress: [
          { protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: [VPC_CIDR], description: "Interface endpoints" },
          { protocol: "tcp", fromPort: 443, toPort: 443, prefixListIds: [s3.prefixListId], description: "S3 gateway endpoint" },
        ],
      },
      child,
    );

    const endpointGroup = new aws.ec2.SecurityGroup(
      `${name}-endpoints`,
      {
        vpcId,
        description: "Interface endpoints: HTTPS from the processor only",
        ingress: [{ protocol: "tcp", fromPort: 443, toPort: 443, securityGroups: [this.functionSecurityGroup.id], description: "Processor" }],
      },
      child,
    );

    // Interface endpoints exist only in some availability zones of a region (DescribeVpcEndpointServices
    // lists them per service as AvailabilityZones), and AWS refuses an endpoint subnet in any other zone.
    // So each endpoint gets only the subnets whose zone its service lists.
    const subnets = this.subnetIds.apply((ids) =>
      pulumi.all(ids.map((id) => aws.ec2.getSubnetOutput({ id }, child).apply((s) => ({ id, availabilityZone: s.availabilityZone })))),
    );
    for (const service of INTERFACE_SERVICES) {
      const offered = aws.ec2.getVpcEndpointServiceOutput({ service, serviceType: "Interface" }, child);
      new aws.ec2.VpcEndpoint(
        `${name}-${service}`,
        {
          vpcId,
          serviceName: offered.serviceName,
          vpcEndpointType: "Interface",
          privateDnsEnabled: true,
          subnetIds: pulumi
            .all([offered.serviceName, offered.availabilityZones, subnets])
            .apply(([serviceName, zones, all]) => subnetsOffering(serviceName, zones, all)),
          securityGroupIds: [endpointGroup.id],
        },
        child,
      );
    }

    this.registerOutputs({ vpcId, subnetIds: this.subnetIds });
  }
}

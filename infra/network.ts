import * as aws from "@pulumi/aws";
import * as awsx from "@pulumi/awsx";
import * as pulumi from "@pulumi/pulumi";

const VPC_CIDR = "10.42.0.0/16";

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

    this.vpc = new awsx.ec2.Vpc(`${name}-vpc`, {
      cidrBlock: VPC_CIDR,
      numberOfAvailabilityZones: 2,
      natGateways: { strategy: "None" },
      subnetStrategy: "Auto",
      subnetSpecs: [{ type: "Isolated", cidrMask: 24 }],
      enableDnsHostnames: true,
      enableDnsSupport: true,
    }, child);
    this.subnetIds = this.vpc.isolatedSubnetIds;
    const vpcId = this.vpc.vpcId;

    const s3 = new aws.ec2.VpcEndpoint(`${name}-s3`, {
      vpcId,
      serviceName: pulumi.interpolate`com.amazonaws.${region}.s3`,
      vpcEndpointType: "Gateway",
      routeTableIds: aws.ec2.getRouteTablesOutput({ vpcId }, child).ids,
    }, child);

    this.functionSecurityGroup = new aws.ec2.SecurityGroup(`${name}-fn`, {
      vpcId,
      description: "Processor: HTTPS to the VPC endpoints only",
      egress: [
        { protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: [VPC_CIDR], description: "Interface endpoints" },
        { protocol: "tcp", fromPort: 443, toPort: 443, prefixListIds: [s3.prefixListId], description: "S3 gateway endpoint" },
      ],
    }, child);

    const endpointGroup = new aws.ec2.SecurityGroup(`${name}-endpoints`, {
      vpcId,
      description: "Interface endpoints: HTTPS from the processor only",
      ingress: [{ protocol: "tcp", fromPort: 443, toPort: 443, securityGroups: [this.functionSecurityGroup.id], description: "Processor" }],
    }, child);

    for (const service of ["athena", "sqs"]) {
      new aws.ec2.VpcEndpoint(`${name}-${service}`, {
        vpcId,
        serviceName: pulumi.interpolate`com.amazonaws.${region}.${service}`,
        vpcEndpointType: "Interface",
        privateDnsEnabled: true,
        subnetIds: this.subnetIds,
        securityGroupIds: [endpointGroup.id],
      }, child);
    }

    this.registerOutputs({ vpcId, subnetIds: this.subnetIds });
  }
}

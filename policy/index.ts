import { PolicyPack } from "@pulumi/policy";
import { RULES } from "./rules";

/**
 * The facility pipeline's security baseline as a Pulumi policy pack:
 *   pulumi preview --policy-pack policy
 * Every rule is mandatory: a violation fails the preview with a message that says what to fix.
 */
new PolicyPack("facility-pipeline-baseline", {
  policies: RULES.map((rule) => ({
    name: rule.name,
    description: rule.description,
    enforcementLevel: "mandatory" as const,
    validateStack: (args, reportViolation) => {
      for (const v of rule.check(args.resources)) reportViolation(v.message, v.urn);
    },
  })),
});

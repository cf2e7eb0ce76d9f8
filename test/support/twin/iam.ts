import { runSimulation } from "@cloud-copilot/iam-simulate";
import type { IdentityPolicy } from "../../../infra/processor-policy";

export interface Caller {
  /** The role ARN requests are made as. */
  principal: string;
  accountId: string;
  /** Identity policies of the caller, as the program declares them. */
  policies: IdentityPolicy[];
}

export interface Decision {
  action: string;
  resource: string;
  context: Record<string, string>;
  allowed: boolean;
}

/**
 * Decides every request of the twin the way IAM would for the caller's identity policies, using an
 * offline policy evaluator (@cloud-copilot/iam-simulate). Every decision is recorded, so a test can
 * show which calls were made and that each was authorized.
 */
export class Authorizer {
  readonly decisions: Decision[] = [];
  private readonly cache = new Map<string, boolean>();

  constructor(readonly caller: Caller) {}

  async allows(action: string, resource: string, context: Record<string, string> = {}): Promise<boolean> {
    const id = JSON.stringify([action, resource, context]);
    let allowed = this.cache.get(id);
    if (allowed === undefined) {
      const response = await runSimulation(
        {
          identityPolicies: this.caller.policies.map((policy, i) => ({ name: `policy-${i}`, policy })),
          serviceControlPolicies: [],
          resourceControlPolicies: [],
          resourcePolicy: undefined,
          request: {
            principal: this.caller.principal,
            action,
            resource: { resource, accountId: this.caller.accountId },
            contextVariables: context,
          },
        },
        {},
      );
      if (response.resultType === "error") throw new Error(`the IAM simulator rejected ${action} on ${resource}: ${JSON.stringify(response.errors)}`);
      allowed = response.overallResult === "Allowed";
      this.cache.set(id, allowed);
    }
    this.decisions.push({ action, resource, context, allowed });
    return allowed;
  }

  /** The sentence AWS puts in an access-denied error. */
  deniedMessage(action: string, resource: string): string {
    return `User: ${this.caller.principal} is not authorized to perform: ${action} on resource: ${resource} because no identity-based policy allows the ${action} action`;
  }

  denied(): Decision[] {
    return this.decisions.filter((d) => !d.allowed);
  }
}

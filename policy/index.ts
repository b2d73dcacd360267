/**
 * The django-deploy CrossGuard policy pack. Run it with a preview or an update:
 *
 *     pulumi preview --policy-pack policy
 *
 * (see README.md). The rules live in rules/ so they can be unit-tested without the engine:
 * constructing a PolicyPack starts its gRPC server immediately.
 */
import { PolicyPack } from "@pulumi/policy";
import { policies } from "./rules";

new PolicyPack("django-deploy", {
  description:
    "Guardrails for django-deploy on AWS (FSBP controls): IMDSv2, encrypted volumes, only 80/443 open to the world, " +
    "closed default security groups, HTTPS-only load balancers, private encrypted databases, encrypted caches, required tags.",
  enforcementLevel: "mandatory",
  policies,
});

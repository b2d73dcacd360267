/**
 * What every rule module shares: the report callback, the enforcement levels, and how a value is
 * shown in a message.
 *
 * Each `check*` function in these modules is a pure rule over the resource's input properties (as
 * the engine hands them to an analyzer: plain JSON, secrets unwrapped) and a `report` callback;
 * the modules' `policies` arrays wire them to @pulumi/aws 7 resource classes.
 *
 * Rules read only the fields they judge. During `pulumi preview` a property that is not known yet
 * throws when read, and the policy SDK then reports "can't run policy during preview" as advisory
 * for that resource; reading unrelated fields would make that happen needlessly.
 */
export type Report = (message: string) => void;

export const mandatory = "mandatory" as const;
export const advisory = "advisory" as const;

export function show(value: unknown): string {
  return value === undefined ? "unset" : JSON.stringify(value);
}

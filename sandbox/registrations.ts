/**
 * Captures what the Pulumi engine would receive from a program running under `setMocks`: every
 * RegisterResource request (type, name, inputs as serialized on the wire, resource options) and
 * every RegisterResourceOutputs call. `Mocks.newResource` only sees type, name and inputs, so the
 * options are read from the request itself by wrapping the mock monitor's `registerResource` — the
 * same request the real engine would get. Used by the sandbox runner (sandbox/child.ts) and by the
 * program tests (test/program/harness.ts).
 */
import type * as PulumiModule from "@pulumi/pulumi";

/** The resource options that travel in a RegisterResource request. */
export interface RequestOptions {
  parent: string;
  protect: boolean;
  ignoreChanges: string[];
  replaceOnChanges: string[];
  additionalSecretOutputs: string[];
  /** URNs of the resources this one waits for (dependsOn, expanded by the SDK, plus input dependencies). */
  dependencies: string[];
  deleteBeforeReplace: boolean;
  retainOnDelete: boolean;
  /** Options a sandbox does not emulate, by name, when set (the runner refuses them). */
  unsupported: string[];
}

export interface CapturedRequest {
  type: string;
  name: string;
  custom: boolean;
  /** Inputs exactly as serialized in the request: secrets wrapped where they are. */
  wire: Record<string, unknown>;
  options: RequestOptions;
  /** Filled in when the monitor answers. */
  urn: string;
}

export interface Capture {
  /** Requests by `type::name`, in the order the monitor received them. */
  requests: Map<string, CapturedRequest>;
  /** Outputs each component registered (registerOutputs), deserialized with secrets wrapped, by URN. */
  componentOutputs: Record<string, Record<string, unknown>>;
}

export const requestKey = (type: string, name: string) => `${type}::${name}`;

/* eslint-disable @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-return --
   The mock monitor and its protobuf requests are untyped internals of @pulumi/pulumi. */
function optionsOf(req: any): RequestOptions {
  const unsupported: string[] = [];
  if (req.getCustomtimeouts?.()) unsupported.push("customTimeouts");
  if ((req.getAliasesList?.() ?? []).length > 0 || (req.getAliasurnsList?.() ?? []).length > 0) unsupported.push("aliases");
  if (req.getImportid?.()) unsupported.push("import");
  if ((req.getTransformsList?.() ?? []).length > 0) unsupported.push("transforms");
  if ((req.getReplaceWithList?.() ?? []).length > 0) unsupported.push("replaceWith");
  if (req.getDeletedwith?.()) unsupported.push("deletedWith");
  if (req.getHooks?.()) unsupported.push("hooks");
  if ((req.getHidediffsList?.() ?? []).length > 0) unsupported.push("hideDiffs");
  if (req.getProvider?.()) unsupported.push("provider");
  return {
    parent: req.getParent(),
    protect: req.getProtect() === true,
    ignoreChanges: req.getIgnorechangesList(),
    replaceOnChanges: req.getReplaceonchangesList(),
    additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
    dependencies: req.getDependenciesList(),
    deleteBeforeReplace: req.getDeletebeforereplace() === true,
    retainOnDelete: req.getRetainondelete() === true,
    unsupported,
  };
}

/** Wrap the mock monitor of an SDK instance on which `setMocks` was just called. */
export function captureRegistrations(pulumi: typeof PulumiModule): Capture {
  const capture: Capture = { requests: new Map(), componentOutputs: {} };
  const monitor = pulumi.runtime.getMonitor() as any;
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req: any, callback: (err: unknown, resp: any) => void) => {
    const entry: CapturedRequest = {
      type: req.getType(),
      name: req.getName(),
      custom: req.getCustom() === true,
      wire: req.getObject()?.toJavaScript() ?? {},
      options: optionsOf(req),
      urn: "",
    };
    capture.requests.set(requestKey(entry.type, entry.name), entry);
    return register(req, (err: unknown, resp: any) => {
      if (resp) entry.urn = resp.getUrn();
      callback(err, resp);
    });
  };
  const registerOutputs = monitor.registerResourceOutputs.bind(monitor);
  monitor.registerResourceOutputs = (req: any, callback: (err: unknown, resp: unknown) => void) => {
    const outputs = req.getOutputs();
    capture.componentOutputs[req.getUrn()] = outputs ? pulumi.runtime.deserializeProperties(outputs) : {};
    return registerOutputs(req, callback);
  };
  return capture;
}
/* eslint-enable @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-return */

/**
 * Captures what the Pulumi engine would receive from a program running under `setMocks`: every
 * RegisterResource request (type, name, inputs as serialized on the wire, resource options) and
 * every RegisterResourceOutputs call. `Mocks.newResource` only sees type, name and inputs, so the
 * options are read from the request itself by wrapping the mock monitor's `registerResource` — the
 * same request the real engine would get. Used by the sandbox runner (sandbox/child.ts) and by the
 * program tests (test/program/harness.ts).
 */
import type * as PulumiModule from "@pulumi/pulumi";
import type { RegisterResourceOutputsRequest, RegisterResourceRequest, RegisterResourceResponse } from "@pulumi/pulumi/proto/resource_pb";

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

type Request = RegisterResourceRequest;
type Callback<R> = (err: unknown, resp: R | undefined) => void;
/** The parts of the SDK's mock monitor that are wrapped here (typed `any` in @pulumi/pulumi). */
interface MockMonitor {
  registerResource(req: Request, callback: Callback<RegisterResourceResponse>): Promise<void>;
  registerResourceOutputs(req: RegisterResourceOutputsRequest, callback: Callback<unknown>): void;
}

function optionsOf(req: Request): RequestOptions {
  const unsupported: string[] = [];
  const timeouts = req.getCustomtimeouts();
  if (timeouts && (timeouts.getCreate() || timeouts.getUpdate() || timeouts.getDelete())) unsupported.push("customTimeouts");
  if (req.getAliasesList().length > 0 || req.getAliasurnsList().length > 0) unsupported.push("aliases");
  if (req.getImportid()) unsupported.push("import");
  if (req.getTransformsList().length > 0) unsupported.push("transforms");
  if (req.getReplaceWithList().length > 0) unsupported.push("replaceWith");
  if (req.getDeletedwith()) unsupported.push("deletedWith");
  const hooks = req.getHooks();
  const hookLists = hooks
    ? [
        hooks.getBeforeCreateList(),
        hooks.getAfterCreateList(),
        hooks.getBeforeUpdateList(),
        hooks.getAfterUpdateList(),
        hooks.getBeforeDeleteList(),
        hooks.getAfterDeleteList(),
        hooks.getOnErrorList(),
      ]
    : [];
  if (hookLists.some((l) => l.length > 0)) unsupported.push("hooks");
  if (req.getHidediffsList().length > 0) unsupported.push("hideDiffs");
  if (req.getProvider()) unsupported.push("provider");
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
  const monitor = pulumi.runtime.getMonitor() as unknown as MockMonitor;
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, callback) => {
    const entry: CapturedRequest = {
      type: req.getType(),
      name: req.getName(),
      custom: req.getCustom() === true,
      wire: req.getObject()?.toJavaScript() ?? {},
      options: optionsOf(req),
      urn: "",
    };
    capture.requests.set(requestKey(entry.type, entry.name), entry);
    return register(req, (err, resp) => {
      if (resp) entry.urn = resp.getUrn();
      callback(err, resp);
    });
  };
  const registerOutputs = monitor.registerResourceOutputs.bind(monitor);
  monitor.registerResourceOutputs = (req, callback) => {
    const outputs = req.getOutputs();
    capture.componentOutputs[req.getUrn()] = outputs ? pulumi.runtime.deserializeProperties(outputs) : {};
    return registerOutputs(req, callback);
  };
  return capture;
}

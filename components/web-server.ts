/**
 * nginx in front of the site. With TLS, in phases so nothing deadlocks: an HTTP server for the ACME
 * challenge → `certbot certonly --webroot` → the TLS site with its redirects.
 */
import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { StepGroup, StepGroupArgs } from "./step-group";

export interface WebServerArgs extends StepGroupArgs {
  /** The app must be serving before nginx sends traffic to it. */
  app: pulumi.Input<pulumi.Resource>;
}

export class WebServer extends StepGroup {
  public readonly site: command.remote.Command;

  constructor(name: string, args: WebServerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("django-deploy:web:WebServer", name, args, opts);
    const before: pulumi.Input<pulumi.Resource>[] = [args.app];
    if (args.settings.tls) {
      const bootstrap = this.step("acmeBootstrap");
      before.push(this.step("certificate", {}, [bootstrap]));
    }
    this.site = this.step("nginxSite", {}, [...(args.after ?? []), ...before]);
    this.registerOutputs({ site: this.site.id });
  }
}

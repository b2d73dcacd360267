/** Where everything lives on the host, derived from validated settings (pure). */
import { Settings } from "./config";

export interface Layout {
  /** `<baseDir>/<domain>`: the parent repository's checkout and everything the site keeps beside it. */
  site: string;
  code: string;
  homepage: string;
  public: string;
  static: string;
  media: string;
  logs: string;
  var: string;
  run: string;
  socket: string;
  venv: string;
  envrc: string;
  runinenv: string;
  gunicornConf: string;
  beatSchedule: string;
  home: string;
  deployKey: string;
  acmeWebroot: string;
  certificate: string;
  nginxSite: string;
  nginxEnabled: string;
  supervisorConf: string;
}

/** Supervisor group and nginx upstream name of a site: its domain with dots as dashes. */
export function siteSlug(s: Pick<Settings, "domain">): string {
  return s.domain.replace(/\./g, "-");
}

export function layoutOf(s: Settings): Layout {
  const site = `${s.baseDir}/${s.domain}`;
  const home = `/home/${s.appUser}`;
  return {
    site,
    code: `${site}/${s.djangoDir}`,
    homepage: `${site}/${s.homepageDir}`,
    public: `${site}/public`,
    static: `${site}/public/static`,
    media: `${site}/public/media`,
    logs: `${site}/logs`,
    var: `${site}/var`,
    run: `${site}/run`,
    socket: `${site}/run/gunicorn.sock`,
    venv: `${site}/ENV`,
    envrc: `${site}/.server.envrc`,
    runinenv: `${site}/runinenv.sh`,
    gunicornConf: `${site}/gunicorn.conf.py`,
    beatSchedule: `${site}/var/celerybeat-schedule`,
    home,
    deployKey: `${home}/.ssh/deploy_key`,
    acmeWebroot: `/var/lib/django-deploy/acme/${s.domain}`,
    certificate: `/etc/letsencrypt/live/${s.domain}/fullchain.pem`,
    nginxSite: `/etc/nginx/sites-available/${s.domain}.conf`,
    nginxEnabled: `/etc/nginx/sites-enabled/${s.domain}.conf`,
    supervisorConf: `/etc/supervisor/conf.d/${siteSlug(s)}.conf`,
  };
}

/**
 * Names derived from the domain: the supervisord programs and the nginx upstream of one site must
 * never be another site's. siteSlug is injective on every domain the configuration accepts (it has
 * an inverse), and its names stay within what supervisord, file names and nginx take.
 */
import fc from "fast-check";
import { layoutOf, siteOfSlug, siteSlug } from "../../components/layout";
import * as A from "./lib/arbitraries";
import { existingHostBase, parse } from "./lib/fixtures";

const slug = (domain: string) => siteSlug({ domain });

test("shop-eu.example.com and shop.eu-example.com get different names", () => {
  expect(slug("shop-eu.example.com")).toBe("shop--eu-example-com");
  expect(slug("shop.eu-example.com")).toBe("shop-eu--example-com");
  expect(slug("example.com")).toBe("example-com");
  expect(slug("xn--bcher-kva.example")).toBe("xn----bcher--kva-example");
});

test("injective: siteOfSlug recovers every accepted domain, so no two domains share a slug (fast-check)", () => {
  fc.assert(
    fc.property(A.domain, (domain) => {
      expect(parse({ ...existingHostBase(), domain }).domain).toBe(domain); // an accepted domain
      expect(siteOfSlug(slug(domain))).toBe(domain);
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(A.domain, A.domain, (a, b) => {
      fc.pre(a !== b);
      expect(slug(a)).not.toBe(slug(b));
    }),
    { numRuns: 2000 },
  );
});

test("the names are letters, digits and dashes (supervisord program and group, nginx upstream, a file name under 255 bytes)", () => {
  fc.assert(
    fc.property(A.domain, (domain) => {
      const s = parse({ ...existingHostBase(), domain });
      const name = slug(domain);
      expect(name).toMatch(/^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/);
      for (const f of Object.values(layoutOf(s).files)) expect(Buffer.byteLength(f.path.split("/").pop()!)).toBeLessThanOrEqual(255);
    }),
    { numRuns: 500 },
  );
});

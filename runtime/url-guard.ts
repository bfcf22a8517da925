import { lookup as dnsLookup } from 'node:dns';
import type { LookupAddress } from 'node:dns';
import ipaddr from 'ipaddr.js';

type Network = [ipaddr.IPv4 | ipaddr.IPv6, number];

const DNS_CHECK_TIMEOUT_MS = 2000;

export class ForbiddenUrlError extends Error {}

/**
 * SSRF protection for merchant webhook URLs: only http(s) to public unicast addresses, unless
 * an address falls in an explicitly allowed network (WEBHOOK_ALLOWED_NETWORKS, e.g.
 * `127.0.0.0/8,::1/128` for local development). Checked when an endpoint is saved and again
 * on every connection, so a DNS answer that changes later cannot point a delivery inward.
 */
export class UrlGuard {
  private readonly allowed: Network[];

  constructor(allowedNetworks = '') {
    this.allowed = allowedNetworks.split(',').map((s) => s.trim()).filter(Boolean).map((cidr) => {
      if (!ipaddr.isValidCIDR(cidr)) throw new Error(`invalid network "${cidr}": expected CIDR such as 127.0.0.0/8`);
      return ipaddr.parseCIDR(cidr);
    });
  }

  /** Why an address may not be called, or null if it may. */
  refusal(address: string): string | null {
    if (!ipaddr.isValid(address)) return `${address} is not an IP address`;
    const ip = ipaddr.process(address);
    if (this.allowed.some(([net, bits]) => net.kind() === ip.kind() && ip.match(net, bits))) return null;
    const range = ip.range();
    return range === 'unicast' ? null : `${address} is a ${range} address`;
  }

  /**
   * Refuses a URL that is not http(s) or whose host is, or resolves to, a forbidden address.
   * A name that does not resolve now is accepted: it is checked again at delivery.
   */
  async check(rawUrl: string): Promise<void> {
    let url: URL;
    try {
      url = new URL(rawUrl);
    } catch {
      throw new ForbiddenUrlError('url must be an absolute http or https URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ForbiddenUrlError('url must use http or https');
    if (url.username || url.password) throw new ForbiddenUrlError('url must not carry credentials');
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const addresses = ipaddr.isValid(host)
      ? [host]
      : await new Promise<string[]>((resolve) => {
        // A resolver that hangs must not hold the request: unresolved now, the name is checked again at delivery.
        const giveUp = setTimeout(() => resolve([]), DNS_CHECK_TIMEOUT_MS);
        dnsLookup(host, { all: true }, (err, found) => {
          clearTimeout(giveUp);
          resolve(err ? [] : found.map((a) => a.address));
        });
      });
    for (const address of addresses) {
      const why = this.refusal(address);
      if (why) throw new ForbiddenUrlError(`url points to a private or reserved network (${why})`);
    }
  }

  /** A `dns.lookup` for the HTTP client that fails the connection to a forbidden address. */
  readonly lookup = (hostname: string, options: object, callback: (err: Error | null, address: string | LookupAddress[], family?: number) => void): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      const refused = addresses.map((a) => this.refusal(a.address)).find(Boolean);
      if (refused) return callback(new ForbiddenUrlError(`refused to connect: ${refused}`), []);
      if ((options as { all?: boolean }).all) return callback(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

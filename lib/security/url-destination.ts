/**
 * Where a URL may lead: its scheme (https unless the operator allows http) and every address its host resolves to.
 * Private, loopback, link-local and other non-public addresses are refused after resolution, before any connection,
 * unless the operator exempts their range. The caller connects to the address checked here (no second lookup that a
 * DNS rebinding could answer differently). Address classes come from ipaddr.js, not hand-written ranges.
 */
import * as dns from 'node:dns';
import * as ipaddr from 'ipaddr.js';
import { forbidden } from '../errors';
import { redactUrl } from '../redact';
import { POLICY_ENV, type UrlPolicy } from './input-policy';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to all its addresses; tests inject their own. */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = async (hostname) => {
  const all = await dns.promises.lookup(hostname, { all: true, verbatim: true });
  return all.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

/** ipaddr.js's range name for an address, IPv4-mapped IPv6 taken as IPv4. */
export function addressRange(address: string): string {
  return ipaddr.process(address).range();
}

function exempt(policy: UrlPolicy, address: string): boolean {
  const a = ipaddr.process(address);
  return policy.allowPrivate.some((c) => {
    const [range, bits] = ipaddr.parseCIDR(c);
    return range.kind() === a.kind() && a.match(range, bits);
  });
}

/**
 * Checks the scheme and resolves the host; returns the address to connect to, or throws 'forbidden' naming the rule.
 * resolve 'skip' (planning): a host name is not looked up, only a literal address is checked (undefined returned).
 */
export async function checkUrlDestination(policy: UrlPolicy, url: URL, what: string, resolve: Resolver | 'skip' = systemResolver): Promise<ResolvedAddress | undefined> {
  const shown = redactUrl(url.toString());
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowHttp)) {
    throw forbidden(`${what} ${shown} is refused: only https URLs are allowed${url.protocol === 'http:' ? ` (plain http needs ${POLICY_ENV.allowHttp}=true)` : ''}`, { rule: 'https-only' });
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: ResolvedAddress[];
  if (ipaddr.isValid(host)) addresses = [{ address: host, family: ipaddr.parse(host).kind() === 'ipv6' ? 6 : 4 }];
  else if (resolve === 'skip') return undefined;
  else {
    try {
      addresses = await resolve(host);
    } catch (err) {
      throw forbidden(`${what} ${shown} is refused: its host name does not resolve (${(err as NodeJS.ErrnoException).code ?? 'lookup failed'})`, { rule: 'dns' });
    }
    if (addresses.length === 0) throw forbidden(`${what} ${shown} is refused: its host name does not resolve`, { rule: 'dns' });
  }
  // Every address must pass: a name that also resolves to an internal address is refused whatever order DNS gives.
  for (const a of addresses) {
    const range = addressRange(a.address);
    if (range !== 'unicast' && !exempt(policy, a.address)) {
      throw forbidden(`${what} ${shown} is refused: ${host === a.address ? 'it is' : `${host} resolves to`} ${a.address}, a ${range} address; workers reach only public addresses (exempt ranges: ${POLICY_ENV.allowPrivate})`, { rule: 'public-address' });
    }
  }
  return addresses[0];
}

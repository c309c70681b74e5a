/**
 * Where webhooks may be sent (SSRF). An endpoint URL is https (http only to loopback, or anywhere when
 * GATEHOUSE_WEBHOOKS_ALLOW_HTTP is on), carries no credentials, and every address its host resolves to must be
 * public: loopback is allowed outside production (GATEHOUSE_WEBHOOKS_ALLOW_LOOPBACK), private, link-local
 * (cloud metadata at 169.254.169.254), unique-local, multicast and reserved ranges only with
 * GATEHOUSE_WEBHOOKS_ALLOW_PRIVATE_NETWORKS. The check runs when the URL is saved and again at each delivery
 * on the very address the connection uses (`guardedLookup`), so a DNS answer that changes afterwards
 * (rebinding) cannot turn a public name into an internal address. Redirects are never followed.
 */
import dns from 'node:dns';
import { BlockList, isIP } from 'node:net';
import type { LookupFunction } from 'node:net';
import type { WebhookConfig } from '../config';

type Policy = Pick<WebhookConfig, 'allowPrivateNetworks' | 'allowLoopback' | 'allowHttp'>;

function blockList(ranges: Array<[string, number, 'ipv4' | 'ipv6']>): BlockList {
  const list = new BlockList();
  for (const [address, prefix, type] of ranges) list.addSubnet(address, prefix, type);
  return list;
}

const LOOPBACK = blockList([
  ['127.0.0.0', 8, 'ipv4'],
  ['::1', 128, 'ipv6'],
]);

/** Everything that is not a public unicast address (besides loopback). */
const NON_PUBLIC = blockList([
  ['0.0.0.0', 8, 'ipv4'],
  ['10.0.0.0', 8, 'ipv4'],
  ['100.64.0.0', 10, 'ipv4'],
  ['169.254.0.0', 16, 'ipv4'],
  ['172.16.0.0', 12, 'ipv4'],
  ['192.0.0.0', 24, 'ipv4'],
  ['192.168.0.0', 16, 'ipv4'],
  ['198.18.0.0', 15, 'ipv4'],
  ['224.0.0.0', 3, 'ipv4'],
  ['::', 128, 'ipv6'],
  ['64:ff9b::', 96, 'ipv6'],
  ['fc00::', 7, 'ipv6'],
  ['fe80::', 10, 'ipv6'],
  ['ff00::', 8, 'ipv6'],
]);

export type AddressKind = 'public' | 'loopback' | 'private';

export function classifyAddress(raw: string): AddressKind {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(raw);
  const address = mapped ? mapped[1] : raw;
  const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
  if (LOOPBACK.check(address, type)) return 'loopback';
  if (NON_PUBLIC.check(address, type)) return 'private';
  return 'public';
}

/** Why this address may not be a target, or null. */
export function addressRefusal(address: string, policy: Policy): string | null {
  const kind = classifyAddress(address);
  if (kind === 'loopback' && !policy.allowLoopback && !policy.allowPrivateNetworks) return `${address} is a loopback address; webhooks may not be sent to this server's own machine.`;
  if (kind === 'private' && !policy.allowPrivateNetworks) return `${address} is a private, link-local or reserved address; webhooks go to public addresses only (see GATEHOUSE_WEBHOOKS_ALLOW_PRIVATE_NETWORKS).`;
  return null;
}

const hostOf = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, '$1');

async function resolveAll(host: string): Promise<string[]> {
  if (isIP(host)) return [host];
  const found = await dns.promises.lookup(host, { all: true, verbatim: true });
  return found.map((a) => a.address);
}

/** Checks a URL a Superuser enters: the message for the form, or null when it is acceptable. */
export async function urlRefusal(raw: string, policy: Policy): Promise<string | null> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'Enter a full URL, such as https://example.com/webhooks.';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'Use an https:// URL.';
  if (url.username || url.password) return 'Leave credentials out of the URL: receivers authenticate the sender by the signature.';
  if (url.hash) return 'Leave out the #fragment.';
  let addresses: string[];
  try {
    addresses = await resolveAll(hostOf(url));
  } catch {
    return `${url.hostname} cannot be resolved.`;
  }
  if (!addresses.length) return `${url.hostname} cannot be resolved.`;
  for (const a of addresses) {
    const refusal = addressRefusal(a, policy);
    if (refusal) return refusal;
  }
  const allLoopback = addresses.every((a) => classifyAddress(a) === 'loopback');
  if (url.protocol === 'http:' && !policy.allowHttp && !allLoopback) return 'Use https:// (plain http is only allowed to localhost).';
  return null;
}

/** A `lookup` for http(s).request that refuses to connect to an address the policy forbids. */
export function guardedLookup(policy: Policy): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 4);
      const list = addresses as dns.LookupAddress[];
      for (const a of list) {
        const refusal = addressRefusal(a.address, policy);
        if (refusal) return callback(Object.assign(new Error(refusal), { code: 'EWEBHOOKTARGET' }), '', 4);
      }
      if ((options as dns.LookupOptions).all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, list);
      callback(null, list[0].address, list[0].family);
    });
  };
}

/** The connection-time check for a host given as an IP literal (no lookup happens for those). */
export function literalRefusal(url: URL, policy: Policy): string | null {
  const host = hostOf(url);
  return isIP(host) ? addressRefusal(host, policy) : null;
}

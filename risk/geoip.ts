import { createRequire } from 'node:module';

type GeoIp = { lookup(ip: string): { country?: string } | null };

let geoip: GeoIp | undefined;

/**
 * The country of an IP address from the GeoLite2 data `geoip-country` ships (refreshed with the
 * package), or undefined for private, reserved and unknown addresses. Loaded on first use: only
 * workers that see a `client_ip` pay its 8 MB.
 */
export function ipCountryOf(ip: string): string | undefined {
  geoip ??= createRequire(__filename)('geoip-country') as GeoIp;
  return geoip.lookup(ip)?.country || undefined;
}

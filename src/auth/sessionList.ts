/**
 * Sessions as people see them: a readable device ("Chrome on Linux", parsed by bowser), the address, when it
 * started and was last seen, and a handle to end it by. The handle is a hash of the session id: the id itself
 * (what the cookie carries) never appears in a page.
 */
import { createHash } from 'node:crypto';
import Bowser from 'bowser';
import type { Conn } from '../db/connect';
import * as sessions from '../sessions/repo';

export interface SessionView {
  handle: string;
  device: string;
  userAgent: string;
  ip: string;
  startedAt: number;
  lastSeenAt: number;
  current: boolean;
}

export const sessionHandle = (id: string) => createHash('sha256').update(id).digest('base64url').slice(0, 22);

export function deviceName(userAgent: string): string {
  if (!userAgent) return 'Unknown device';
  const parsed = Bowser.parse(userAgent);
  const browser = parsed.browser.name;
  const os = parsed.os.name;
  if (browser && os) return `${browser} on ${os}`;
  return browser || os || userAgent.split(/[\s/]/)[0].slice(0, 40) || 'Unknown device';
}

export async function sessionsOf(db: Conn, userId: number, currentId?: string): Promise<SessionView[]> {
  const rows = await sessions.listLiveForUser(db, userId, Date.now());
  return rows.map((r) => ({
    handle: sessionHandle(r.id),
    device: deviceName(r.user_agent),
    userAgent: r.user_agent,
    ip: r.ip,
    startedAt: Number(r.created_at),
    lastSeenAt: Number(r.last_seen_at),
    current: r.id === currentId,
  }));
}

/** The id of the user's live session with this handle. */
export async function sessionIdByHandle(db: Conn, userId: number, handle: string): Promise<string | undefined> {
  const rows = await sessions.listLiveForUser(db, userId, Date.now());
  return rows.find((r) => sessionHandle(r.id) === handle)?.id;
}

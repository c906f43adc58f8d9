// The shareable room link: `#/room/<name>`. Invite links (`#room=<name>&token=<JWT>`, lib/invite.ts) name
// a room too and are accepted wherever a room link is.
import { parseFragment } from './invite';

export function roomFromHash(hash: string): string {
  return parseFragment(hash)?.room ?? '';
}

export function roomHash(room: string): string {
  return `#/room/${encodeURIComponent(room)}`;
}

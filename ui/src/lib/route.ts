// The shareable room link: `#/room/<name>`.
import { isValidRoomName } from './rooms';

export function roomFromHash(hash: string): string {
  const match = /^#\/room\/(.+)$/.exec(hash);
  const room = match?.[1] ? decodeURIComponent(match[1]) : '';
  return isValidRoomName(room) ? room : '';
}

export function roomHash(room: string): string {
  return `#/room/${encodeURIComponent(room)}`;
}

// Room name rules of the protocol: 1–64 characters of A–Z a–z 0–9 . _ -
export function isValidRoomName(room: string): boolean {
  return /^[A-Za-z0-9._-]{1,64}$/.test(room);
}

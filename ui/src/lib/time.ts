// Times shown next to messages and conversations. One formatter per format, made once: toLocale*String
// builds a new Intl formatter on every call, and in WebKit each stays in memory until a garbage
// collection, which a long conversation list turned into tens of megabytes.
const clock = new Intl.DateTimeFormat([], { hour: '2-digit', minute: '2-digit' });
const day = new Intl.DateTimeFormat([], { day: 'numeric', month: 'short' });

const isToday = (date: Date) => date.toDateString() === new Date().toDateString();

/** Today: the time ("14:05"); earlier: the day ("3 Nov"). */
export function shortTime(ms: number): string {
  const date = new Date(ms);
  return isToday(date) ? clock.format(date) : day.format(date);
}

/** Today: the time; earlier: the day and the time ("3 Nov, 14:05"). */
export function messageTime(ms: number): string {
  const date = new Date(ms);
  return isToday(date) ? clock.format(date) : `${day.format(date)}, ${clock.format(date)}`;
}

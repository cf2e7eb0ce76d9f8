/**
 * When a failed upload message comes back. SQS would otherwise hide it for the queue's whole
 * visibility timeout (six times the function timeout: 30-60 minutes) before the next try; the
 * processor instead sets each failed message's visibility itself, backing off from seconds to minutes.
 * Shared with infra, which derives the oldest-upload alarm's threshold from the same schedule.
 */
export const RETRY_BACKOFF = { firstSeconds: 30, maxSeconds: 900 } as const;

/** Seconds a message stays hidden after its `receives`-th receive failed (1-based): 30, 60, 120, ... 900. */
export function retryDelaySeconds(receives: number): number {
  const n = Math.max(1, Math.floor(receives));
  return Math.min(RETRY_BACKOFF.maxSeconds, RETRY_BACKOFF.firstSeconds * 2 ** (n - 1));
}

/**
 * The oldest an upload message can legitimately get while it is still being worked on: the batching
 * window, then every receive running to the function timeout, with the backoff between receives.
 * SQS's ApproximateAgeOfOldestMessage counts in-flight messages too, so an age alarm below this fires
 * on ordinary retries.
 */
export function longestLegitimateAgeSeconds(p: { maxReceiveCount: number; timeoutSeconds: number; batchWindowSeconds: number }): number {
  let total = p.batchWindowSeconds;
  for (let receive = 1; receive <= p.maxReceiveCount; receive++) {
    total += p.timeoutSeconds + (receive < p.maxReceiveCount ? retryDelaySeconds(receive) : 0);
  }
  return total;
}

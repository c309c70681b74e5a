/** What the server's life looks like to the operations endpoints: requests in flight, draining for a stop. */
export interface Lifecycle {
  inFlight: number;
  /** Set on SIGTERM: /readyz answers 503 so load balancers stop sending, responses close their connection. */
  draining: boolean;
}

export function createLifecycle(): Lifecycle {
  return { inFlight: 0, draining: false };
}

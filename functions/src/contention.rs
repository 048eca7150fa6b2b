//! Retrying a write that lost an optimistic-concurrency race.

/// A random pause of up to `attempt` × 4 ms (capped at 100 ms) before a retry, so that
/// requests that collided do not collide again in step.
pub async fn back_off(attempt: u32) {
    let mut byte = [0u8; 1];
    let jitter = getrandom::fill(&mut byte).map_or(0, |()| u64::from(byte[0]));
    let millis = u64::from(attempt.min(25)) * 4 * jitter / 255;
    tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
}

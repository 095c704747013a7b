//! One scheduler for every phase of a run: calls on a session's instances, as many at once as the throttle's
//! window allows, each call's follow-ups queued for any instance or chained on the one that made it.

use std::collections::VecDeque;

use anyhow::Result;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

/// What a finished call leaves to do.
pub(super) struct FollowUps<W> {
    /// The next call of its chain, on the instance that made this one: its session may hold what that call needs
    /// (a page whose grants it hands back over several calls), so no request is repeated.
    pub chained: Option<W>,
    /// Calls any instance may make.
    pub independent: Vec<W>,
}

impl<W> FollowUps<W> {
    pub fn none() -> Self {
        Self { chained: None, independent: Vec::new() }
    }
}

/// Makes every call of `queue` and every follow-up, with `start` on the session's `instances` (each instance
/// comes back with its call's answer), at most `window()` at once. `finished` takes each answer in the order
/// they come and says what follows; its error ends the run, with every instance not in a call back home.
pub(super) async fn on_instances<I, W, T, F>(
    instances: &mut Vec<I>,
    window: impl Fn() -> usize,
    queue: Vec<W>,
    start: impl Fn(I, W) -> F,
    mut finished: impl AsyncFnMut(W, T) -> Result<FollowUps<W>>,
) -> Result<()>
where
    F: Future<Output = (I, W, T)>,
{
    let mut queue: VecDeque<W> = queue.into();
    let mut pool = Pool::lend(instances);
    let mut running = FuturesUnordered::new();
    loop {
        while let Some((instance, call)) = pool.next(&mut queue, running.len(), window()) {
            running.push(start(instance, call));
        }
        let Some((instance, call, answer)) = running.next().await else { return Ok(()) };
        // Home at once, so that an error below leaves it to the session; a chained call takes it again.
        pool.idle.push(instance);
        let follow_ups = finished(call, answer).await?;
        queue_in_turns(&mut queue, follow_ups.independent);
        if let Some(next) = follow_ups.chained {
            pool.park(next);
        }
    }
}

/// Queues the calls a call handed out in turns with those already waiting, so that a listing whose pages come
/// later does not wait behind another's hundred: a groups page with thousands of members then has its round trip
/// hidden behind others', instead of coming last, after every page of users (BENCHMARKS.md, session 20).
fn queue_in_turns<W>(queue: &mut VecDeque<W>, calls: Vec<W>) {
    for (i, call) in calls.into_iter().enumerate() {
        queue.insert((2 * i + 1).min(queue.len()), call);
    }
}

/// A session's instances lent to a run, for calls of kind `W`: those not in a call are `idle`, or `parked` with
/// the next call of a chain they are in (a next token goes on on the instance that issued it) until the
/// throttle's window has room. All go back to the session when the run ends, however it ends (those in a call
/// when it is cut short go with their task).
struct Pool<'s, W, I> {
    home: &'s mut Vec<I>,
    idle: Vec<I>,
    parked: VecDeque<(I, W)>,
}

impl<'s, W, I> Pool<'s, W, I> {
    fn lend(home: &'s mut Vec<I>) -> Self {
        let idle = std::mem::take(home);
        Self { home, idle, parked: VecDeque::new() }
    }

    /// Parks the instance just home with the next call of its chain.
    fn park(&mut self, call: W) {
        let instance = self.idle.pop().expect("the instance just home");
        self.parked.push_back((instance, call));
    }

    /// The next call to start, if fewer than `window` are `running`: a parked chain first (it holds an
    /// instance), else the first of `queue` on an idle instance.
    fn next(&mut self, queue: &mut VecDeque<W>, running: usize, window: usize) -> Option<(I, W)> {
        if running >= window {
            return None;
        }
        if let Some(parked) = self.parked.pop_front() {
            return Some(parked);
        }
        let call = queue.pop_front()?;
        match self.idle.pop() {
            Some(instance) => Some((instance, call)),
            None => {
                queue.push_front(call);
                None
            }
        }
    }
}

impl<W, I> Drop for Pool<'_, W, I> {
    fn drop(&mut self) {
        self.home.append(&mut self.idle);
        self.home.extend(self.parked.drain(..).map(|(instance, _)| instance));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_start_only_while_the_window_has_room_and_parked_chains_go_first() {
        let mut home = vec![1, 2, 3, 4];
        let mut queue: VecDeque<&str> = ["a", "b", "c"].into();
        {
            let mut pool: Pool<&str, i32> = Pool::lend(&mut home);
            assert_eq!(pool.next(&mut queue, 2, 2), None, "a full window starts nothing");
            assert_eq!(pool.next(&mut queue, 0, 2), Some((4, "a")));
            // Instance 4 comes home with a next page of its chain: parked, it goes before the queue.
            pool.idle.push(4);
            pool.park("a2");
            assert_eq!(pool.next(&mut queue, 1, 2), Some((4, "a2")));
            assert_eq!(pool.next(&mut queue, 2, 2), None);
            let waiting = pool.idle.pop().unwrap();
            pool.parked.push_back((waiting, "b2"));
            assert_eq!(pool.idle.len(), 2);
        }
        // However the run ends, every instance not in a call goes home, parked ones too.
        home.sort();
        assert_eq!(home, vec![1, 2, 3]);
        assert_eq!(queue, VecDeque::from(["b", "c"]));
    }

    #[test]
    fn calls_handed_out_go_in_turns_with_those_waiting() {
        let mut queue: VecDeque<&str> = ["u2", "u3", "u4"].into();
        queue_in_turns(&mut queue, vec!["g2", "g3", "g4", "g5"]);
        assert_eq!(queue, ["u2", "g2", "u3", "g3", "u4", "g4", "g5"]);
        let mut empty = VecDeque::new();
        queue_in_turns(&mut empty, vec!["a", "b"]);
        assert_eq!(empty, ["a", "b"]);
    }

    #[tokio::test]
    async fn a_chain_stays_on_its_instance_and_an_error_sends_every_instance_home() {
        // Calls "a" and "b" each chain one follow-up ("a2", "b2"); "a" also hands out "c" to anyone.
        let mut instances = vec![1, 2];
        let mut made = Vec::new();
        let start = |instance: i32, call: &'static str| async move { (instance, call, instance) };
        on_instances(&mut instances, || 2, vec!["a", "b"], start, async |call, on: i32| {
            made.push((call, on));
            Ok(match call {
                "a" => FollowUps { chained: Some("a2"), independent: vec!["c"] },
                "b" => FollowUps { chained: Some("b2"), independent: Vec::new() },
                _ => FollowUps::none(),
            })
        })
        .await
        .unwrap();
        let on = |call: &str| made.iter().find(|(c, _)| *c == call).map(|(_, on)| *on).unwrap();
        assert_eq!((on("a2"), on("b2")), (on("a"), on("b")), "{made:?}");
        assert_eq!(made.len(), 5);
        assert_eq!(instances.len(), 2);
        let failed = on_instances(&mut instances, || 1, vec!["x", "y"], start, async |_, _| anyhow::bail!("stop")).await;
        assert_eq!(failed.unwrap_err().to_string(), "stop");
        assert_eq!(instances.len(), 2, "home however the run ends");
    }
}

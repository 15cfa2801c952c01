"""Queued work: every piece of work a worker does is a row first (the transactional outbox),
sent to the broker after commit, claimed once per attempt, heartbeated from claim to end, and
swept when it was lost (never sent, lost by the broker, or its worker died)."""

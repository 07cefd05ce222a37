// Package jobs runs bulk jobs: one USP operation (Get, Set, Add, Delete,
// Operate, GetInstances or GetSupportedProtocol) applied to a set of
// devices, with a concurrency limit, per-device results, progress, and
// cancel. Jobs survive controller restarts and are shared by controller
// replicas through NATS.
//
// # Life of a job
//
// Create validates a Spec, builds the USP request once, resolves the
// devices (an explicit list, or a Selector evaluated against the inventory
// at that moment), and stores the job as pending. Whichever replica's Run
// claims the job's lease first runs it: it marks the job running, sends
// the request to every device (at most Spec.Concurrency at a time, and at
// most Config.Workers requests at a time for all jobs on the replica) and
// stores one Result per device. When every device has a result the job
// ends:
//
//   - completed: every device was tried and at least one succeeded; the
//     counters say how many failed or gave no answer.
//   - failed: no device succeeded (each failed, timed out, was offline or
//     was skipped), or the job could not be carried out (Job.Error says
//     why).
//   - canceled: an operator canceled it; in-flight requests were abandoned
//     and every device without a result got a "canceled" one.
//
// # Asynchronous commands
//
// An operate job waits for each device's asynchronous commands (a firmware
// Download(), say) to finish, as the per-device API's operate does with
// "wait": the runner follows the OperationComplete events of the job's
// command key (events.Completions; the key defaults to
// "cuttle-job-<job ID>") from before the first Operate is sent, and a
// device's result is written once its commands completed (ok), one failed
// (usp_error) or OperateRequest.CompletionTimeout passed (timeout; the
// command shows as pending in the response). A device waiting for its
// completion holds one of the job's Concurrency slots, which bounds how
// many devices run the command at once, but none of the replica's Workers.
// Before sending the Operate to a device, the runner records that it did
// ("<id>.sent.<creds.EncodeKey(endpoint ID)>" in the jobs bucket, written
// with Create, and rewritten with the device's answer once it comes), so
// that a command is run at most once per device. A job resumed after a
// restart (or taken over by another replica) sends nothing to a device
// that has such a mark and no result: it waits for the completion of the
// commands the device said it started (of the command requested, when the
// answer was not recorded), reading the event log back from shortly
// before the first such device's mark so as to see the completions that
// arrived while no controller followed them, for what is left of the
// completion timeout since the mark (at least 5 s), and records ok,
// usp_error or timeout as above. A device the controller stopped before
// it answered therefore ends as a timeout if the command never reached
// it, rather than being asked twice. Devices without a mark get the
// Operate as usual.
//
// # Storage
//
// Job records are JSON in the KV bucket "cuttle-jobs" under the job's ID.
// The same bucket holds, under sub-keys the job listing never sees, the
// device snapshot ("<id>.devices.<n>", chunks of at most 2,000 endpoint
// IDs, so that a job over 100,000 devices stays under NATS's 1 MB message
// limit and its record, rewritten at every progress flush, stays small),
// the lease ("<id>.lease") and, for operate jobs that wait for
// completions, one mark per device the Operate was sent to
// ("<id>.sent.<encoded endpoint ID>", see above); Run's purge removes
// them all with the record.
//
// Results are JSON in the KV bucket "cuttle-job-results" under
// "<id>.<creds.EncodeKey(endpoint ID)>". A KV bucket rather than a plain
// stream, because KV gives each device one key: results are written with
// Create, which fails when the key exists, so a device is recorded exactly
// once even when two replicas race, and a resumed job finds the devices it
// must not redo by key. The bucket is still a stream underneath (KV_<bucket>,
// subjects $KV.<bucket>.<key>, history 1), and listing reads that stream
// through a short-lived consumer filtered on the job's subjects, starting
// after the cursor's stream sequence: a page costs what it returns, not
// what the job holds, and the cursor stays valid while results are added.
// Both buckets are file-backed, so jobs survive restarts of NATS too.
//
// Run purges finished jobs older than Config.Retention (default 30 days),
// their device snapshots and their results; the results bucket also has
// that age limit plus a day as a backstop.
//
// # Leases
//
// A replica runs a job only while it holds the job's lease: a KV key
// written with a revision check. It claims a missing (or released) lease
// with Create, refreshes it every LeaseTTL/3 with Update against the
// revision it last wrote, and releases it with a revision-checked Delete
// when the job ends or Run stops. A refresh that finds another revision has
// lost the lease: the replica stops the job at once and records nothing
// more. Another replica takes over a lease it has seen keep the same
// revision for a whole LeaseTTL on its own clock, so that clock skew
// between replicas cannot cut a lease short; a replica restarted with the
// same Config.ReplicaID takes its own leftover leases back immediately.
// Should a partitioned replica keep sending after losing its lease, the
// result keys still keep one result per device.
//
// Progress counters are written to the job record at most every
// FlushInterval (default 500 ms), and exactly once more when the job ends
// or its runner stops; Watch follows those writes, on any replica.
package jobs

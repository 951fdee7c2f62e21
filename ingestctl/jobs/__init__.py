"""Jobs: the spec of an import, the queue that owns every state change, the source contract,
the runner that drives one attempt, and the dead-letter queue.

Import the submodules directly (``ingestctl.jobs.queue``, ``ingestctl.jobs.runner``...): this
package imports nothing, so light commands stay light.
"""

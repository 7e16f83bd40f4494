"""Job entry points: thin functions at stable dotted paths.

RQ stores `jobs.deliver.deliver_event` with every queued job, and rq-scheduler stores the
periodic functions' paths (webapp.pipeline.schedule), so these paths outlive any move of the
code behind them. Each builds or borrows the app (jobs.context) and calls into its feature.
"""

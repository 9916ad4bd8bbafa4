"""The shareable report: a page of HTML with inline CSS and SVG charts (``html``, ``svg``),
rendered from the plain values ``workbench.jobs.report`` gathers. Nothing here reads the
store or runs the engine."""

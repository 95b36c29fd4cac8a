"""Pages for people: the lifecycle report, one self-contained HTML page per model.

- `lifecycle`: `ModelLifecycle` (built by `ModelLifecycle.from_records` from the registry API's
  JSON) and `lifecycle_report_html`, its page.

No names are imported here: the page imports the training report's HTML pieces, and with them
scikit-learn, which the CLI loads only when it renders a page.
"""

"""Blind reviews: asking for one (from a run, a sweep or an eval), the reviewer's pages that
show answers under letters only, the results, and the API. What is shown and counted is
`reviewing`; the pages are `pages`; the JSON doors are `api`."""

"""Reports sent by e-mail: a unit's results as a PDF, by subscription or once (issue 10)."""

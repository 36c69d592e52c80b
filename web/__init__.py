"""The browser app's files (served by the hub at /); a package only so that installs carry them."""

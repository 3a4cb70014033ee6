"""The commands of revsync's command line, one module per area; cli.py registers them on its
main group. This stage sits on top of every other one in connector/ and nothing in connector/
imports it."""

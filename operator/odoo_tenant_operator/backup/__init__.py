"""odoo-tenant-backup: backup, verification and restore testing of one Odoo tenant.

The tool runs inside the tenant's backup and restore-test Jobs (the operator
schedules them; this package never talks to the Kubernetes API). A tenant's data
is its PostgreSQL database plus its filestore directory; a backup is a
``pg_dump --format=custom`` archive, a gzip-compressed tar of the filestore and a
``manifest.json`` written last, stored on S3 or on a mounted volume.

Layers, lowest first (nothing low imports anything high):

- ``errors``: the exception types and their exit codes.
- ``ids``, ``manifest``, ``retention``: pure logic, no I/O.
- ``streams``, ``compression``, ``filestore``, ``postgres``: streaming plumbing,
  the filestore tar and the PostgreSQL client programs.
- ``storage`` (the target interface and the volume target), ``s3`` (the S3 target).
- ``catalog``, ``operations``: what a subcommand does, returning result values.
- ``cli``: argument and environment parsing, output and exit codes.
"""

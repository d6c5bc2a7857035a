"""The AWS services behind small interfaces: an object store, a queue, a CDN.

The core receives these; each has an in-memory fake for unit tests and a boto3
implementation tested against moto. Only this package and ``handlers`` import boto3.
"""

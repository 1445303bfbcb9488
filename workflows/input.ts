// A workflow's first step: its input parsed with its schema, or a non-retryable failure that
// says what is wrong, before any activity runs.
import { ApplicationFailure } from '@temporalio/workflow';
import { BAD_INPUT } from '../lib/contracts';
import { parseInput } from '../lib/inputs';
import type { ZodType } from 'zod';

export function validInput<T>(schema: ZodType<T>, raw: unknown, what: string): T {
  const r = parseInput(schema, raw, what);
  if (!r.ok) throw ApplicationFailure.nonRetryable(r.message, BAD_INPUT);
  return r.value;
}

// Registers walflow's custom search attributes in a namespace, once: every workflow start sets
// them, and Temporal refuses a start that names an attribute the namespace does not know.
import type { Client } from '@temporalio/client';
import { SEARCH_ATTRIBUTES } from './workflowstart';

/** INDEXED_VALUE_TYPE_KEYWORD: every walflow attribute is a keyword. */
const KEYWORD = 2;

/** The names it added; those already there are left as they are. */
export async function registerSearchAttributes(client: Client): Promise<string[]> {
  const namespace = client.options.namespace;
  const known = await client.connection.operatorService.listSearchAttributes({ namespace });
  const have = new Set([...Object.keys(known.customAttributes ?? {}), ...Object.keys(known.systemAttributes ?? {})]);
  const missing = Object.values(SEARCH_ATTRIBUTES)
    .map((a) => a.name)
    .filter((n) => !have.has(n));
  if (missing.length)
    await client.connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((n) => [n, KEYWORD])),
    });
  return missing;
}

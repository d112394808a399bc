// What a model directory says about itself: card.json metadata plus facts read from the ONNX files.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { ENCODER_FILE, HEAD_FILE, ModelLoadError } from './runtime.js';

export const CARD_FILE = 'card.json';

export interface ModelCard {
  workload?: string;
  role?: string;
  description?: string;
  sha256?: string;
  accuracy?: number;
  files?: Record<string, { sha256?: string; bytes?: number }>;
}

export interface GraphFileFacts {
  sha256: string;
  /** DynamicQuantizeLinear computes one activation scale over the whole batch. */
  dynamicQuantization: boolean;
}

export interface ModelInfo {
  card?: ModelCard;
  defaultName: string;
  version: string;
  encoder: GraphFileFacts;
  head: GraphFileFacts;
  /** Files whose hash differs from the one card.json records, e.g. regenerated after the card. */
  cardMismatches: string[];
}

export function defaultModelName(card: ModelCard | undefined, directory: string): string {
  if (card?.workload && card.role) return `${card.workload}-${card.role}`;
  return basename(resolve(directory));
}

/** A short, stable version string: the card's digest when it has one. */
export function modelVersion(card: ModelCard | undefined): string {
  return card?.sha256 && /^[0-9a-f]{12,}$/i.test(card.sha256) ? card.sha256.slice(0, 12).toLowerCase() : '1';
}

function graphFacts(file: string): GraphFileFacts {
  if (!existsSync(file)) throw new ModelLoadError(`model file ${file} does not exist`);
  const bytes = readFileSync(file);
  return {
    sha256: createHash('sha256').update(bytes).digest('hex'),
    // Operator types are stored as plain strings in the protobuf, so a byte search is exact enough.
    dynamicQuantization: bytes.includes('DynamicQuantizeLinear'),
  };
}

export function readModelInfo(directory: string): ModelInfo {
  const cardPath = join(directory, CARD_FILE);
  let card: ModelCard | undefined;
  if (existsSync(cardPath)) {
    try {
      card = JSON.parse(readFileSync(cardPath, 'utf8')) as ModelCard;
    } catch (error) {
      throw new ModelLoadError(`${cardPath} is not valid JSON: ${(error as Error).message}`);
    }
    if (!card || typeof card !== 'object' || Array.isArray(card)) throw new ModelLoadError(`${cardPath} must hold a JSON object`);
  }
  const encoder = graphFacts(join(directory, ENCODER_FILE));
  const head = graphFacts(join(directory, HEAD_FILE));
  const cardMismatches: string[] = [];
  for (const [file, facts] of [
    [ENCODER_FILE, encoder],
    [HEAD_FILE, head],
  ] as const) {
    const recorded = card?.files?.[file]?.sha256;
    if (recorded && recorded !== facts.sha256) cardMismatches.push(file);
  }
  return { card, defaultName: defaultModelName(card, directory), version: modelVersion(card), encoder, head, cardMismatches };
}

/** Routing: destination normalisation and route selection. Pure; see table.ts for the matching rules. */
export { isSupportedRegion, maskMsisdn, normaliseMsisdn, type NormaliseResult } from './msisdn.js';
export {
  compileRoutes,
  MESSAGE_CLASSES,
  operatorOf,
  selectRoute,
  type CompiledRoute,
  type CompiledRoutes,
  type CompileOptions,
  type MessageClass,
  type RouteInput,
  type RouteProblem,
  type RoutesFile,
  type Selection,
} from './table.js';
export { ROUTES_SCHEMA_PATH } from './schema.js';

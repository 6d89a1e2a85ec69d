/**
 * Hand-written types for the parts of `smpp@0.6.0-rc.4` that Qasid uses: the PDU codec
 * and its tables. Its socket layer (Session/Server) is deliberately not typed — Qasid
 * owns sockets, framing, windows and timers (see src/smpp/README in the main README).
 */
declare module 'smpp' {
  type PduFieldValue = string | number | Buffer | Date | null | undefined | PduFieldValue[] | { [k: string]: unknown };

  interface PduOptions {
    sequence_number?: number;
    command_status?: number;
    [field: string]: unknown;
  }

  class PDU {
    constructor(command: string, options?: PduOptions);
    constructor(buffer: Buffer);
    command: string;
    command_length: number;
    command_id: number;
    command_status: number;
    sequence_number: number;
    [field: string]: unknown;
    isResponse(): boolean;
    toBuffer(): Buffer;
    static fromBuffer(buffer: Buffer): PDU | false;
    static maxLength: number;
  }

  interface ParamDef {
    type: unknown;
    filter?: { encode: (v: unknown) => unknown; decode: (v: unknown, skipUdh?: boolean) => unknown };
  }
  interface CommandDef {
    id: number;
    command: string;
    params?: Record<string, ParamDef>;
    tlvMap?: Record<string, string>;
  }
  interface TlvDef {
    id: number;
    tag: string;
    type: unknown;
    multiple?: boolean;
    filter?: ParamDef['filter'];
  }

  interface SmppModule {
    PDU: typeof PDU;
    errors: Record<string, number>;
    commands: Record<string, CommandDef>;
    commandsById: Record<number, CommandDef>;
    tlvs: Record<string, TlvDef>;
    tlvsById: Record<number, TlvDef>;
    types: Record<string, unknown>;
    addTLV(tag: string, options: { id: number; type: unknown; multiple?: boolean }): void;
  }

  const smpp: SmppModule;
  export default smpp;
  export type { PduFieldValue, PduOptions };
}

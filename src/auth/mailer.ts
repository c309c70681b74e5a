/**
 * Outgoing mail through SMTP (nodemailer), configured by GATEHOUSE_SMTP_URL (`smtp://user:pass@host:587`,
 * or `smtps://…` for implicit TLS). One transport per server.
 */
import nodemailer, { type Transporter } from 'nodemailer';

const transports = new Map<string, Transporter>();

export interface Mail {
  to: string;
  subject: string;
  text: string;
}

export async function sendMail(smtpUrl: string, from: string, mail: Mail): Promise<void> {
  let transport = transports.get(smtpUrl);
  if (!transport) {
    transport = nodemailer.createTransport(smtpUrl);
    transports.set(smtpUrl, transport);
  }
  await transport.sendMail({ from, to: mail.to, subject: mail.subject, text: mail.text });
}

/** Closes the pooled connections (tests, shutdown). */
export function closeMailers(): void {
  for (const t of transports.values()) t.close();
  transports.clear();
}

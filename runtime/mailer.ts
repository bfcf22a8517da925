import nodemailer from 'nodemailer';
import type { Transporter } from 'nodemailer';

export type Mail = { to: string; subject: string; text: string; messageId: string };

/** Sends payer receipts through the SMTP server of SMTP_URL (credentials stay in that URL, never logged). */
export class Mailer {
  private readonly transport: Transporter;
  constructor(smtpUrl: string, private readonly from: string) {
    this.transport = nodemailer.createTransport(smtpUrl);
  }

  async send(mail: Mail): Promise<void> {
    // A stable Message-ID: if a retry sends the same receipt again, mail clients show it once.
    await this.transport.sendMail({ from: this.from, to: mail.to, subject: mail.subject, text: mail.text, messageId: mail.messageId });
  }

  close(): void {
    this.transport.close();
  }
}
